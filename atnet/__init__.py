"""ATNet (Apex-Time Network, ACII 2019): a Caffe-faithful reproduction.

The package holds the shared code; thin entry points live in ``tools/`` and
``data_prep/``.
"""
