//go:build !abitest_loglevel

package main

func hostLogLevel() string { return "" }
