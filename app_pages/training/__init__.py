"""The training page's parts (the page itself is app_pages/training.py): setup (data and settings), lessons (the math
beside them), runs (Train, the live view), queue (a waiting run), report (an ended run), compare, scrubber."""
