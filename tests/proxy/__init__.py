"""A real squid as the proxy between the plugin and the emulator: no logon, Basic, NTLM."""
