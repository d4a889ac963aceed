module github.com/bcosdata/bcosdata/services/export

go 1.26.0

replace (
	github.com/bcosdata/bcosdata/libs => ../../libs
	github.com/bcosdata/bcosdata/proto => ../../proto
	github.com/bcosdata/bcosdata/services/fiscosim => ../fiscosim
	github.com/bcosdata/bcosdata/services/reconcile => ../reconcile
	github.com/bcosdata/bcosdata/services/stash => ../stash
)
