"""monosub: the domain package shipped to Lambda as the core layer (/opt/python/monosub)."""
