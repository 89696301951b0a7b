//go:build ignore

// mage.go runs the targets of magefile.go without installing mage:
//
//	go run mage.go TARGET
//	go run mage.go -l     # list targets
//
// It uses the mage version pinned in go.mod.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
