"""Running the book as experiments: chapters executed with papermill, the experiment grids,
the results each chapter records for the reproduction report, and the command around them."""
