package main

import "github.com/go-logr/logr"

func discard() logr.Logger { return logr.Discard() }
