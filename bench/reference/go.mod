module pscache.local/bench/reference

go 1.19
