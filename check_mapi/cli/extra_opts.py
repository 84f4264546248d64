"""``--extra-opts[=][section][@file]``: options from an INI section (Monitoring Plugins).

Without ``@file`` the file is found as Monitoring Plugins' lib/parse_ini.c finds it:
``$MP_CONFIG_FILE``; else, in each directory of the colon-separated
``$NAGIOS_CONFIG_PATH``, the first of monitoring-plugins.ini, plugins.ini,
nagios-plugins.ini that exists; else the first existing file of the standard list. A file
that holds a secret (``password``, ``token``, ``proxy-password``) must be private like any
secret file. The file is read with a size cap and refused at once if it is not a regular
file, so that ``@/dev/zero`` or a FIFO can neither hang the check nor exhaust memory.
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from .secrets import check_private, read_capped

TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:
    import configparser
    from collections.abc import Mapping, Sequence

PLUGIN_SECTION = "check_mapi"
INI_NAMES = ("monitoring-plugins.ini", "plugins.ini", "nagios-plugins.ini")
EXTRA_OPTS_FILES = ("/usr/local/etc/monitoring-plugins/monitoring-plugins.ini",
                    "/usr/local/etc/monitoring-plugins.ini",
                    "/etc/monitoring-plugins/monitoring-plugins.ini",
                    "/etc/monitoring-plugins.ini",
                    "/etc/nagios/plugins.ini", "/usr/local/nagios/etc/plugins.ini",
                    "/usr/local/etc/nagios/plugins.ini", "/etc/opt/nagios/plugins.ini",
                    "/etc/nagios-plugins.ini", "/usr/local/etc/nagios-plugins.ini",
                    "/etc/opt/nagios-plugins.ini")
SECRET_KEYS = frozenset({"password", "token", "proxy-password"})
INI_CAP = 1024 * 1024


def expand_extra_opts(argv: Sequence[str], env: Mapping[str, str]
                      ) -> list[str]:
    """Replace ``--extra-opts[=][section][@file]`` by the options of that INI section.

    The section's options go first, so that the command line overrides them.
    """
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == "--extra-opts" or arg.startswith("--extra-opts="):
            value = arg.partition("=")[2]
            taken = 1
            if arg == "--extra-opts" and index + 1 < len(args) and not args[index + 1
                                                                            ].startswith("-"):
                value, taken = args[index + 1], 2
            rest = args[:index] + args[index + taken:]
            return _ini_options(value, env) + expand_extra_opts(rest, env)
    return args


def find_ini(env: Mapping[str, str]) -> str | None:
    """The file ``--extra-opts`` without ``@file`` reads, as parse_ini.c's default_file()
    picks it (existence only: a directory found here is refused when read, as there)."""
    if env.get("MP_CONFIG_FILE"):
        return env["MP_CONFIG_FILE"]
    in_path = (os.path.join(folder, name)
               for folder in env.get("NAGIOS_CONFIG_PATH", "").split(":") if folder
               for name in INI_NAMES)
    return next((p for p in (*in_path, *EXTRA_OPTS_FILES) if os.path.exists(p)), None)


def _ini_options(spec: str, env: Mapping[str, str]) -> list[str]:
    section, _, path = spec.partition("@")
    section = section or PLUGIN_SECTION
    path = path or find_ini(env) or ""
    if not path:
        raise ConfigError("--extra-opts: no plugins.ini found; give [section]@file")
    parser, info = _parse(path)
    if not parser.has_section(section):
        raise ConfigError(f"--extra-opts: no section [{section}] in {path}")
    items = parser.items(section)
    if SECRET_KEYS & {key for key, _ in items}:
        check_private(path, "--extra-opts file holding a secret", info)
    options: list[str] = []
    for key, value in items:
        options += [f"--{key}"] if value == "" else [f"--{key}={value}"]
    return options


def _parse(path: str) -> tuple[configparser.ConfigParser, os.stat_result]:
    import configparser  # only runs with --extra-opts: ~3 ms otherwise saved

    """The parsed file; a malformed one names its first bad line (never its text: the
    line may hold a password)."""
    data, info = read_capped(path, "--extra-opts file", INI_CAP)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"--extra-opts: {path} is not UTF-8 text") from None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        raise ConfigError(f"--extra-opts: {path}{_where(err)}: {_why(err)}") from None
    return parser, info


def _where(err: configparser.Error) -> str:
    import configparser  # loaded by _parse already

    lineno = getattr(err, "lineno", None)
    if lineno is None and isinstance(err, configparser.ParsingError) and err.errors:
        lineno = err.errors[0][0]
    return f" line {lineno}" if lineno is not None else ""


def _why(err: configparser.Error) -> str:
    import configparser  # loaded by _parse already

    if isinstance(err, configparser.MissingSectionHeaderError):
        return "text before the first [section] header"
    if isinstance(err, configparser.DuplicateSectionError):
        return f"section [{err.section}] appears twice"
    if isinstance(err, configparser.DuplicateOptionError):
        return f"option {err.option!r} appears twice in [{err.section}]"
    return "not a valid INI line (expected [section], key = value or a # comment)"
