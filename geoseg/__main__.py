from geoseg.cli import app

app(prog_name="geoseg")
