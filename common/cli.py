"""How every command-line module runs: flags, `--help`, errors a user causes.

A CLI module ends with

    def run():
      cli.run(main, define_flags, __doc__, user_errors=(PrepareError,))

and `main(argv)` returns the exit code. `run` then

- lists every flag of the command under `--help`, whichever module defined
  it (absl lists only the main module's own "key" flags, so the training
  flags defined in `common.train_cli` were missing), and shows the module's
  docstring under a console script too;
- reports a bad flag (unknown, missing, malformed) in one line;
- turns the errors a user can cause into one line `error: <thing>: <reason>`
  on stderr and exit code 1, without a traceback: OS errors (no such file,
  exists, permission, disk full), `ConfigError`, `AudioError`, `FlagError`
  and the command's own `user_errors`, which are dedicated classes (never
  a bare `ValueError`: that would hide bugs). Any other exception is a bug
  and keeps its traceback. Ctrl-C ends with one line and exit code 130.
"""

from __future__ import annotations

import re
import sys
from typing import Callable, Sequence

# The suite's packages besides the model families (`common.schema.families`):
# their flags are the commands' own (TensorFlow and absl define more, listed
# by --helpfull).
PACKAGES = ("common", "eval", "pretrained")
USAGE_EXIT = 2  # a bad command line (as argparse)
ERROR_EXIT = 1
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report Ctrl-C


class FlagError(ValueError):
  """A flag value a user got wrong; the message names the flag."""


def _base_user_errors() -> tuple[type[BaseException], ...]:
  # pylint: disable=g-import-not-at-top
  from common import audio
  from common import schema
  return (OSError, schema.ConfigError, audio.AudioError, FlagError)


# User errors of modules that import TensorFlow: caught without importing
# them first (a command that never loaded the module cannot raise its error),
# so a flag mistake is reported before TensorFlow starts.
_LOADED_USER_ERRORS = (("common.checkpoint", "CheckpointError"),
                       ("common.generator", "RequestError"))


def _loaded_user_errors() -> tuple[type[BaseException], ...]:
  return tuple(getattr(sys.modules[module], name)
               for module, name in _LOADED_USER_ERRORS
               if module in sys.modules)


def error_line(error: BaseException) -> str:
  """One line for `error`: `error: <thing>: <reason>`.

  An OS error raised by the system (`open` of a missing file) becomes
  `error: <filename>: <strerror>`; other messages are the error's own (they
  name the thing first), joined onto one line.
  """
  if isinstance(error, OSError) and error.filename is not None and (
      error.strerror):
    message = f"{error.filename}: {error.strerror}"
  else:
    message = str(error) or type(error).__name__
  message = " ".join(part.strip() for part in message.splitlines()
                     if part.strip())
  return f"error: {message}"


def flag_error_line(error: Exception) -> str:
  """One line for an absl flag parsing error, naming the flag."""
  message = " ".join(str(error).split())
  flagname = getattr(error, "flagname", None)
  if flagname and "Unknown command line flag" in message:
    line = f"error: --{flagname}: unknown flag"
    guess = re.search(r"Did you mean: (.+?) ?\?", message)
    if guess:
      names = ", ".join(f"--{n.strip()}" for n in guess.group(1).split(","))
      line += f" (did you mean {names}?)"
    return line + "; see --help"
  required = re.match(r"flag (--\w+)=None: Flag --\w+ must have a value "
                      r"other than None\.", message)
  if required:
    return f"error: {required.group(1)}: required; see --help"
  missing = re.match(r"Missing value for flag (--\w+)", message)
  if missing:
    return f"error: {missing.group(1)}: needs a value; see --help"
  return f"error: {re.sub(r'^flag ', '', message)}"


def positive_ints(text: str, flag: str) -> list[int]:
  """A flag's "1,4,16" -> [1, 4, 16]; FlagError naming the flag if any
  value is not a whole number >= 1."""
  try:
    values = [int(v) for v in str(text).split(",")]
  except ValueError:
    values = []
  if not values or min(values) < 1:
    raise FlagError(f"--{flag}={text}: expected whole numbers >= 1 "
                    f"separated by commas, e.g. 1,4")
  return values


def _parse_flags(argv: Sequence[str]) -> list[str]:
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(flag_error_line(e), file=sys.stderr)
    sys.exit(USAGE_EXIT)


def is_own_module(module: str, main_name: str) -> bool:
  """True if flags defined in `module` are a command's own: the main
  module's (`sys.argv[0]`) and those of the suite's packages."""
  from common import schema  # pylint: disable=g-import-not-at-top
  package = module.split(".")[0]
  return (module == main_name or package in PACKAGES or
          package in schema.families())


def show_all_flags_in_help(main_name: str | None = None) -> None:
  """Makes every flag the suite defines a key flag of the main module, so
  `--help` lists it.

  absl's `--help` shows the key flags of the module named `sys.argv[0]`:
  flags defined by a `python -m` module itself, none of those defined in
  another module (`common.train_cli`) and none at all under a console script
  (`sys.argv[0]` is then the script, which defines nothing).
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  main_name = main_name or sys.argv[0]
  for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
    if not is_own_module(module, main_name):
      continue
    for flag in module_flags:
      flags.FLAGS.register_key_flag_for_module(main_name, flag)


def run(main: Callable[[list[str]], int | None],
        define_flags: Callable[[], object] | None = None,
        doc: str | None = None,
        user_errors: Sequence[type[Exception]] = ()) -> None:
  """Defines the flags, parses them and calls `main(argv)`; exits the process.

  Args:
    main: the command, `main(argv) -> exit code` (None is 0).
    define_flags: defines the command's flags (None: defined on import).
    doc: the usage text `--help` prints first (the module's docstring);
      used when `__main__` has none (a console script).
    user_errors: exception classes of the command's library that report a
      user's mistake (e.g. `PrepareError`), caught like the common ones
      (`OSError`, `ConfigError`, `AudioError`, `FlagError`, and
      `CheckpointError` and `RequestError` once their modules are loaded):
      dedicated classes, never a bare `ValueError`.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  if define_flags is not None:
    define_flags()
  show_all_flags_in_help()
  main_module = sys.modules.get("__main__")
  if doc and main_module is not None and not getattr(main_module, "__doc__",
                                                     None):
    main_module.__doc__ = doc
  caught = _base_user_errors() + tuple(user_errors)

  def guarded_main(argv: list[str]) -> int | None:
    try:
      return main(argv)
    except KeyboardInterrupt:
      print("interrupted", file=sys.stderr)
      return INTERRUPTED_EXIT
    except Exception as e:  # pylint: disable=broad-except
      if not isinstance(e, caught + _loaded_user_errors()):
        raise
      print(error_line(e), file=sys.stderr)
      return ERROR_EXIT

  app.run(guarded_main, flags_parser=_parse_flags)
