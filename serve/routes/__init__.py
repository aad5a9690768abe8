"""One ``APIRouter`` per OpenAPI tag (service, tracks, races, drivers, recommendations, live), and the routes outside the
schema (offline docs, executed reports, the web build) last, since the web build's catch-all answers
whatever no other route did."""
from . import drivers, live, races, recommendations, service, static, tracks

ROUTERS = (service.router, tracks.router, races.router, drivers.router, recommendations.router, live.router, static.router)
