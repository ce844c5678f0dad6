"""What an attempt leaves behind: artifacts (screenshots, HTML, traces) and the page log."""
