"""The classify page's parts (the page itself is app_pages/classify.py): probes (occlusion, what-if, adversarial)."""
