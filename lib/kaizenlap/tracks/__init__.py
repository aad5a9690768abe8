"""Track maps: the centreline and sector boundaries traced from the official map PDFs (:mod:`.trace`)."""
