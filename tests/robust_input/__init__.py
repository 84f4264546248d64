"""Input a server or a user controls: never "internal error", never a forged status line,
credentials only where they belong (issue 14)."""
