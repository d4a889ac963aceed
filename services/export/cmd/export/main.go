// Command export runs the export service; `export -h` lists every flag and its EXPORT_* variable.
package main

import (
	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/export"
)

func main() { app.Main(export.Command()) }
