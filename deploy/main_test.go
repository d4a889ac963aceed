package deploy

import (
	"testing"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
