module qyvol.example/contract

go 1.21
