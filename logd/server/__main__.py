"""``python -m logd.server``: run one broker in the foreground (see ``logd.server.main``)."""

import sys

from logd.server.main import main

sys.exit(main())
