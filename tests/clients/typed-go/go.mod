module typedgo

go 1.19
