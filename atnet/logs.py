"""Python logging for the stages' messages: the terminal as before, plus a log file in the output folder.

``stage_log(name, out_dir)`` returns a function ``log(message)`` (what the
stages take as ``log=``) that sends each message through the ``atnet.<name>``
logger to stdout as plain text, as print did, and to ``out_dir/<name>.log``
with a time stamp, appended, so the folder keeps what each run said. The
progress bars stay on stderr (tqdm) and are not logged. A dry run that
writes nothing passes ``out_dir=None``: no file then.
"""
import logging
import os
import sys

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TqdmHandler(logging.Handler):
    """Console output through tqdm.write, so a message lands above the progress bars, not inside them."""

    def emit(self, record):
        from tqdm import tqdm
        try:
            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:       # logging's rule: a handler never raises
            self.handleError(record)


def stage_logger(name, out_dir=None, stream=None, bars=False, file_name=None):
    """The ``atnet.<name>`` logger, its handlers set afresh (one process may run a stage twice).

    ``bars``: the console goes through tqdm.write (a stage with progress bars);
    ``file_name`` names the log file instead of ``<name>.log``.
    """
    logger = logging.getLogger("atnet." + name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    console = TqdmHandler() if bars else logging.StreamHandler(stream or sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        handler = logging.FileHandler(os.path.join(out_dir, file_name or name + ".log"), encoding="utf-8")
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
        logger.addHandler(handler)
    return logger


def stage_log(name, out_dir=None, stream=None, bars=False, file_name=None):
    """``log(message)`` for a stage: INFO on stdout and in ``out_dir/<name>.log``."""
    logger = stage_logger(name, out_dir, stream, bars, file_name)

    def log(message, *args):
        logger.info(message, *args)
    log.logger = logger
    return log
