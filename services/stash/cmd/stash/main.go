// Command stash runs the stash service; `stash -h` lists every flag and its STASH_* variable.
package main

import (
	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/stash"
)

func main() { app.Main(stash.Command()) }
