"""What the HTTP front ends (registry, http, admin) share: their aiohttp listener set-up
(``aiohttp_listener``) and how they learn a request's caller (``http_auth``). Any front end
may import this package (tests/test_layering.py); it imports no front end."""
