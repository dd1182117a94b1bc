/etc/footrest/
