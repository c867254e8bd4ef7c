"""The schema map: the logical model the rules read, a profile per layout, and its resolution."""
