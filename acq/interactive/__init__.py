"""The IPython way in: the session's namespace (`ipython`), what the terminal shows while a
plan runs (`live_display`, also used by ``acq run``), and the live plots (`live_plots`)."""
