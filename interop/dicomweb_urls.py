from .apis import dicomweb_routes

urlpatterns = dicomweb_routes.urlpatterns
