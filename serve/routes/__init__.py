"""One ``APIRouter`` per OpenAPI tag (service, tracks, races, recommendations, live), and the routes outside the
schema (offline docs, executed reports, the web build) last, since the web build's catch-all answers
whatever no other route did."""
from . import live, races, recommendations, service, static, tracks

ROUTERS = (service.router, tracks.router, races.router, recommendations.router, live.router, static.router)
