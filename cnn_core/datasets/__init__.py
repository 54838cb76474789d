"""Datasets: the `Dataset` type and `DataError` (`base`), CIFAR-10 batches, archives and the download
(`cifar`), class folders and zips (`folders`), uploaded datasets kept on disk (`uploads`), and
`load_dataset`, which picks the right one for a path (`loading`). No TensorFlow here.
"""
