"""The findings table printed at the end of a checks run."""
