# Builds the trailwatch binary into a small image. Used by docker-compose.yml.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/trailwatch ./cmd/trailwatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/trailwatch /usr/local/bin/trailwatch
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/trailwatch"]
CMD ["serve", "--config", "/etc/trailwatch/trailwatch.yaml"]
