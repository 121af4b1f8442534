"""The headless browser runtime: the Chromium/Node session and driver (session), the page
bundle builder (bundle) and the local static server (webserver)."""
