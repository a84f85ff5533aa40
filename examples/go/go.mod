module example.com/pscache-example

go 1.19
