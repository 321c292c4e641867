"""Every figure, one module per subject: ``run_plots`` (one run's curves and tables), ``sweep_plots``
(a sweep's views), ``key_plots`` (many swept keys), ``search_plots`` (a search's trials),
``forest_plot`` (a comparison's differences), ``network_images`` (filters, feature maps, inverse
query); ``style`` holds what they share.

Every function takes a DataFrame (or arrays) and a path, draws what it is given (it computes no
results), writes the file atomically and returns the path. Accuracies are stored as shares (0..1)
and drawn in percent. Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so
they can be drawn from any thread or process.
"""
