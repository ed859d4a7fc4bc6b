"""``python -m logd.node``: run one broker in the foreground (see ``logd.node.main``)."""

import sys

from logd.node.main import main

sys.exit(main())
