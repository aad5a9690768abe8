"""One ``APIRouter`` per OpenAPI tag (service, tracks, races, recommendations), and the routes outside the
schema (offline docs, executed reports, the web build) last, since the web build's catch-all answers
whatever no other route did."""
from . import races, recommendations, service, static, tracks

ROUTERS = (service.router, tracks.router, races.router, recommendations.router, static.router)
