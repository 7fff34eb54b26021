"""Data handover (002 §6.2.10): every row and every kept file, exported as documented open
formats and imported into an empty instance (see ``docs/handover.md``)."""
