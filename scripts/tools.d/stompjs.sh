# @stomp/stompjs in headless Chromium: the HTTP listener's STOMP tests (issue 18) serve a page
# that tails a topic with it. Chromium and node/npm from Debian; the npm package in stompjs.after.
want_deb chromium chromium
want_deb nodejs node
want_deb npm npm
