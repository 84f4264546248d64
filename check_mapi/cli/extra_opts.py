"""``--extra-opts[=][section][@file]``: options from an INI section (Monitoring Plugins).

The search path is Monitoring Plugins' own (plugins/utils_base.c, extra_opts.c). A file
that holds a secret (``password`` or ``token``) must be private like any secret file.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from .secrets import check_private

PLUGIN_SECTION = "check_mapi"
EXTRA_OPTS_FILES = ("/etc/nagios/plugins.ini", "/usr/local/nagios/etc/plugins.ini",
                    "/usr/local/etc/nagios/plugins.ini", "/etc/opt/nagios/plugins.ini",
                    "/etc/nagios-plugins.ini", "/usr/local/etc/nagios-plugins.ini",
                    "/etc/opt/nagios-plugins.ini")
SECRET_KEYS = frozenset({"password", "token", "proxy-password"})


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


def _ini_options(spec: str, env: Mapping[str, str]) -> list[str]:
    section, _, path = spec.partition("@")
    section = section or PLUGIN_SECTION
    candidates = (env.get("NAGIOS_CONFIG_PATH", ""), *EXTRA_OPTS_FILES)
    paths = [path] if path else [p for p in candidates if p and os.path.isfile(p)]
    if not paths:
        raise ConfigError("--extra-opts: no plugins.ini found; give [section]@file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(paths[0], encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        raise ConfigError(f"--extra-opts: cannot read {paths[0]}: "
                          f"{getattr(err, 'strerror', None) or 'not a valid INI file'}") from err
    if not parser.has_section(section):
        raise ConfigError(f"--extra-opts: no section [{section}] in {paths[0]}")
    items = parser.items(section)
    if SECRET_KEYS & {key for key, _ in items}:
        check_private(paths[0], "--extra-opts file holding a secret")
    options: list[str] = []
    for key, value in items:
        options += [f"--{key}"] if value == "" else [f"--{key}={value}"]
    return options
