"""OCR of scanned pages and images with Tesseract: the engine, the language choice and the cache.

Optional: without Tesseract, pages that need OCR are reported with the command that installs it
(and the packs for the languages seen). See README, "Scanned documents".
"""
