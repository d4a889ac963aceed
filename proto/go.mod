module github.com/bcosdata/bcosdata/proto

go 1.26.0
