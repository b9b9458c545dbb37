"""Quality control: the render report a supervisor signs off (HTML and JSON)."""
