// Reading overview: built by the overview work.
