module qyvol.example/hello-go

go 1.21
