"""Classifying photos: from a picture to the exact 32x32 input and the top classes (`inference`), why the
network said so (`explain`: Grad-CAM, activations, learned filters), and the classify page's figures
and formulas (`figures`).
"""
