// Command reconcile runs the reconcile service; `reconcile -h` lists every flag and its RECONCILE_* variable.
package main

import (
	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/reconcile"
)

func main() { app.Main(reconcile.Command()) }
