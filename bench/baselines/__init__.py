"""Login services written the plain way, to measure wxauth against."""
