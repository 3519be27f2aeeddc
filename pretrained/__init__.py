# First: `common` keeps TensorFlow's start-up logs off the console (see
# common/__init__.py); its modules import TensorFlow before `common`.
import common  # noqa: F401  pylint: disable=unused-import
